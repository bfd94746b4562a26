/* conflict: the DWARF unit that holds an address (both symbolizers). */
#ifndef LUCID_CONFLICT_DWUNIT_H
#define LUCID_CONFLICT_DWUNIT_H

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

#endif
