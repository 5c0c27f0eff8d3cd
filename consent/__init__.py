"""Recipients' tracking consent: the ledger, its current state, and the in-process cache."""
