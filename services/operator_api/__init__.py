"""The operator API: what the casino's own platform (cashier, lobby, back office) calls.

Money changes are published as ``OperatorCommand``s to the ledger through Kafka and answered with
the ledger's reply; reads come straight from Postgres. ``create_app(settings)`` is the composition
root.
"""
