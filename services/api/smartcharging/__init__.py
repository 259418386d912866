"""What 2.0.1 stations reported for smart charging (read-only)."""
