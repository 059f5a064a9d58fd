"""The reconciler: the ledger checked against Hypetech's own session transactions."""
