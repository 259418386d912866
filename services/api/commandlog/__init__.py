"""commandlog resource."""
