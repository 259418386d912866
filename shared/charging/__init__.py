"""Smart-charging logic shared by the charging service and the API: pure, no I/O.

`schedule` (composite schedules), `validation` (OCPP 1.6 §3.13 rules), `balancing` (site load
allocation) and `profiles` (stored profile <-> schedule model / OCPP payload).
"""

from typing import Final

# Requests from the API to the charging service, on `csms.events` (RPC).
INSTALL_PROFILE: Final = "charging.install_profile"
CLEAR_PROFILE: Final = "charging.clear_profile"
