#!/bin/sh
# Horovod's elastic driver runs this every second: one line per host that may run workers, "name:slots".
# On a cluster it would ask the scheduler; here it names this machine twice, so that there are two "hosts":
# Horovod blacklists a host whose worker failed, and with a single host that would end the whole job.
echo "localhost:1"
echo "127.0.0.1:1"
