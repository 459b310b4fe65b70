"""What a registry plugin plans: artifacts, digests, path rules, the plan context."""
