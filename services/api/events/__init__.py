"""`/events`: the AsyncAPI document of the public events and their SSE stream."""
