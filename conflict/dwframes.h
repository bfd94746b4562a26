/* conflict: DWARF lookups that both symbolizers make (symbolize.c after the
 * program is gone, selfsym.c in the running process). */
#ifndef LUCID_CONFLICT_DWFRAMES_H
#define LUCID_CONFLICT_DWFRAMES_H

#include <dwarf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

/*
 * The compilation unit whose code holds @p addr in @p m. libdw finds it
 * through .debug_aranges, which clang does not emit by default (and libdw
 * 0.188 does not fall back on the units' own ranges); without them, each
 * unit is asked whether its ranges hold the address.
 */
static inline Dwarf_Die *rec_dwarf_unit(Dwfl_Module *m, Dwarf_Addr addr, Dwarf_Addr *bias)
{
	Dwarf_Die *cu = dwfl_module_addrdie(m, addr, bias);

	if (cu)
		return cu;
	while ((cu = dwfl_module_nextcu(m, cu, bias)) != NULL)
		if (dwarf_haspc(cu, addr - *bias) > 0)
			return cu;
	return NULL;
}

/* The source position of @p addr in @p cu's line table (line and column 0
 * where unknown), or NULL. */
static inline const char *rec_dwarf_line(Dwarf_Die *cu, Dwarf_Addr bias, Dwarf_Addr addr,
                                         int *line, int *col)
{
	Dwarf_Line *ln = cu ? dwarf_getsrc_die(cu, addr - bias) : NULL;

	*line = *col = 0;
	if (!ln)
		return NULL;
	if (dwarf_lineno(ln, line) != 0)
		*line = 0;
	if (dwarf_linecol(ln, col) != 0)
		*col = 0;
	return dwarf_linesrc(ln, NULL, NULL);
}

/* A function's name; an inlined instance carries it only in its abstract
 * definition, which the _integrate form follows. */
static inline const char *rec_dwarf_name(Dwarf_Die *die)
{
	Dwarf_Attribute a;
	const char *name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &a));

	return name ? name : dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &a));
}

/* An unsigned attribute that fits an int, else 0. */
static inline int rec_dwarf_udata(Dwarf_Die *die, unsigned attr)
{
	Dwarf_Attribute a;
	Dwarf_Word w;

	if (dwarf_formudata(dwarf_attr(die, attr, &a), &w) != 0 || w > 0x7fffffff)
		return 0;
	return (int)w;
}

/* The file an inlined call was made in: an index into its unit's file table. */
static inline const char *rec_dwarf_call_file(Dwarf_Die *inl)
{
	Dwarf_Attribute a;
	Dwarf_Word idx;
	Dwarf_Die cu;
	Dwarf_Files *files;
	size_t nfiles;

	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &a), &idx) != 0 ||
	    !dwarf_diecu(inl, &cu, NULL, NULL) || dwarf_getsrcfiles(&cu, &files, &nfiles) != 0 ||
	    idx >= nfiles)
		return NULL;
	return dwarf_filesrc(files, idx, NULL, NULL);
}

/* One frame at an address: a function (inlined or not) and where in it. */
typedef void rec_dwarf_frame_fn(void *arg, const char *function, const char *file, int line,
                                int col, bool inlined);

/*
 * The DWARF frames at @p addr in @p cu, innermost first, each given to @p fn:
 * the scopes that physically contain the innermost one (dwarf_getscopes_die,
 * unlike dwarf_getscopes, does not wander into an inlined function's
 * abstract definition), up to the first real function. The position starts
 * at (*file, *line, *col), the source position of addr, and moves to each
 * inlined call's; what is left there is where the outermost call reached
 * was made. Returns whether a real function ended the walk: otherwise (no
 * DWARF, or inlined calls without their function) the caller names it from
 * the symbol table, at that position.
 */
static inline bool rec_dwarf_frames(Dwarf_Die *cu, Dwarf_Addr bias, Dwarf_Addr addr,
                                    const char **file, int *line, int *col,
                                    rec_dwarf_frame_fn *fn, void *arg)
{
	Dwarf_Die *scopes = NULL, inner;
	bool ended = false;
	int n;

	if (!cu || (n = dwarf_getscopes(cu, addr - bias, &scopes)) <= 0) {
		free(scopes);
		return false;
	}
	inner = scopes[0];
	free(scopes);
	scopes = NULL;
	n = dwarf_getscopes_die(&inner, &scopes);
	for (int i = 0; i < n && !ended; i++) {
		int tag = dwarf_tag(&scopes[i]);

		if (tag == DW_TAG_inlined_subroutine) {
			fn(arg, rec_dwarf_name(&scopes[i]), *file, *line, *col, true);
			*file = rec_dwarf_call_file(&scopes[i]);
			*line = rec_dwarf_udata(&scopes[i], DW_AT_call_line);
			*col = rec_dwarf_udata(&scopes[i], DW_AT_call_column);
		} else if (tag == DW_TAG_subprogram || tag == DW_TAG_entry_point) {
			fn(arg, rec_dwarf_name(&scopes[i]), *file, *line, *col, false);
			ended = true;
		}
	}
	free(scopes);
	return ended;
}

#endif
