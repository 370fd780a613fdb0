"""The exit statuses of every `buddycheck` command; a module of its own so that any module may name them."""

EXIT_OK = 0  # everything asked for holds
EXIT_VIOLATION = 1  # a violation, a refuted theorem or a difference was found
EXIT_USAGE = 2  # bad usage or input
EXIT_INCONCLUSIVE = 3  # a Z3 unknown, a search cut short, or changed code that never ran
EXIT_INTERNAL = 4  # the tool itself failed (an unexpected exception): no verdict at all
