"""heartbeats resource."""
