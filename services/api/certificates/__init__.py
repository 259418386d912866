"""Charge point certificates: renewal (trigger a SignCertificate) and what is known of them."""
