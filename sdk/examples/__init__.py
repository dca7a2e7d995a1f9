"""Example applications that ship with relayq, so ``relayq demo`` and
``relayq run sdk.examples.app:worker`` work from any installed copy."""
