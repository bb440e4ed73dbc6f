"""The domain layer: services own transactions, activity, labels and signals."""
