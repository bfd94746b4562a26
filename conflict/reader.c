/* conflict: placeholder until written. */
