"""What a learner runs: their own workspace of the course (`workspace`) and the `%solution` magic."""
