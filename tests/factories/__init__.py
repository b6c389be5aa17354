"""factory_boy factories: the one way tests build data, one module per app.

A factory creates through the app's action when there is one (accounts.actions,
logging_prefs.actions, privacy.deletion.requests ...), so the rows are those the product
writes; a factory that writes rows itself says in its docstring why it must. Import from
the app's module: `from tests.factories.accounts import UserFactory`.
"""
