"""DataTransfer (OCPP 1.6 §4.3): see services/registry/data_transfer.py (shared with 2.0.1)."""

from __future__ import annotations

from services.registry.data_transfer import (
    VENDOR_HANDLERS,
    DataTransferRequest,
    VendorHandler,
    handle,
    register_vendor,
    unregister_vendor,
)

__all__ = [
    "VENDOR_HANDLERS",
    "DataTransferRequest",
    "VendorHandler",
    "handle",
    "register_vendor",
    "unregister_vendor",
]
