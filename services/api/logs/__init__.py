"""logs resource."""
