"""``hypeledger demo``: the whole system on one machine, played by the simulator and checked."""
