"""docchat: what every package of the app shares: the configuration root (``settings``)."""
