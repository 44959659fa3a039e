"""Service discovery: the core owns mDNS and Wi-Fi Direct; plugins contribute data."""
