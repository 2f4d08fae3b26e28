"""What the tests share:

- fakes: in-memory stand-ins for the Pipeline's store and outbox;
- conditions: eventually(), waiting on a condition instead of sleeping;
- topics: what is on a topic now, read with streams.kafka.reader (the reader `cshealth tail` uses);
- cli: the `cshealth` command run as a user runs it;
- paging_scenario: the two-customer story of the paging tests.

Processes are started and stopped with streams.devstack.processes (WorkerProcess, stop_process),
which the demo and the bench use too.
"""
