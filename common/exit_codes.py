"""The exit statuses of every command, so that a script can tell a refusal from a failure."""

# The work was tried and did not succeed (a failed run, a database that cannot be reached).
FAILED_EXIT_CODE = 1
# Nothing was done: an invalid configuration, argument or state was refused before any work started.
REFUSED_EXIT_CODE = 2
