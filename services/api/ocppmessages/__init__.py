"""ocppmessages resource."""
