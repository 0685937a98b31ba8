"""Budget alerts and cost actions."""
