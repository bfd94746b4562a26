/* Lucid: the umbrella header; include this one. */
#ifndef LUCID_H
#define LUCID_H

#include <lucid/common.h>
#include <lucid/conflict.h>
#include <lucid/stats.h>
#include <lucid/tx.h>

#endif /* LUCID_H */
