"""Graph export to PyTorch Geometric, the model, training, cold-start inference, evaluation and baselines."""
