"""idtags resource."""
