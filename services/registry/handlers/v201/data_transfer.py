"""DataTransfer (OCPP 2.0.1 P01/P02): same store and vendor table as 1.6.

2.0.1 DataTransferRequest has the same fields (vendorId, messageId, data: anyType) and the
same answer statuses; without a registered vendor the answer is `UnknownVendorId`.
"""

from __future__ import annotations

from services.registry.data_transfer import handle

__all__ = ["handle"]
