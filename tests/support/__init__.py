"""What the tests share: in-memory fakes (fakes), waiting on a condition (eventually), and
access to the process stop and topic reader that streams itself uses (processes, topics)."""
