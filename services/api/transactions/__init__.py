"""transactions resource."""
