"""The leader's duties: the lease, the dispatcher, fan-out, backfills, the daemon that runs them."""
