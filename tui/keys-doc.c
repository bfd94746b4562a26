/* tui: prints the browser's key table as the docs show it (markdown, man, text), so that docs/browser.md and lucid(1) are checked against it. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tui/browser-internal.h"

int main(int argc, char **argv)
{
	if (argc != 2 || tui_keys_write_doc(stdout, argv[1]) < 0) {
		fprintf(stderr, "usage: keys-doc markdown | man | text\n");
		return 2;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
