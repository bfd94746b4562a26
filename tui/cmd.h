/* tui: the subcommands of the lucid command, each a main() of its own. */
#ifndef LUCID_TUI_CMD_H
#define LUCID_TUI_CMD_H

/* Default recording file of `lucid record` and `lucid report`. */
#define TUI_DEFAULT_FILE "lucid.data"

/* Exit statuses of `lucid record` itself, as env(1) and timeout(1) use
 * them, so that they stay apart from the program's own. */
#define TUI_EXIT_FAILED 125      /* lucid record failed before running the program */
#define TUI_EXIT_CANNOT_RUN 126  /* the program could not be executed */
#define TUI_EXIT_NOT_FOUND 127   /* the program was not found */

/* argv[0] is the subcommand's name; return the exit status. */
int tui_cmd_record(int argc, char **argv);
int tui_cmd_report(int argc, char **argv);

#endif /* LUCID_TUI_CMD_H */
