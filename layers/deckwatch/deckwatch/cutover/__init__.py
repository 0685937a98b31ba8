"""Blue-green cutovers driven by CodePipeline events."""
