"""The course's performance report (`make bench`): speed-ups and scaling measured side by side on this
machine, beside the published figures they echo. `python -m clusterkit.bench --help`."""
