"""`cshealth validate`: does the health score predict, stay calm and explain itself truthfully?

One run scores the simulator (an unseen seed, churn by the end) and a real purchase history (CDNOW,
buys again in the holdout) through the same handlers as the stream and the replay, beside baselines
computed in the same run: recency alone and a BG/NBD frequency/recency model.
"""
