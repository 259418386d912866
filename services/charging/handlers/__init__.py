"""The charging service's handlers: domain events (load balancing, reconnects) and profile RPCs."""
