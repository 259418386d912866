"""locations resource."""
