"""auth resource."""
