# Used by hack/test-chart.sh to check that every chart value is documented.
# Prints the documented-value paths of a values.yaml: top-level keys, and "top.child" for the
# children of top-level maps. Also prints "UNCOMMENTED <path>" for a key with no "# --" comment
# directly above it (or above its parent, for whole-object values).
/^[[:space:]]*#/ { if ($0 ~ /# --/) commented = 1; next }
/^[[:space:]]*$/ { next }
/^[A-Za-z]/ {
  key = $1; sub(/:.*/, "", key); top = key
  rest = $0; sub(/^[^:]*:[[:space:]]*/, "", rest)
  topcommented = commented
  if (rest != "") { print top; if (!commented) print "UNCOMMENTED " top }
  else if (commented) print top
  commented = 0; next
}
/^  [A-Za-z]/ {
  key = $1; sub(/:.*/, "", key)
  if (topcommented) { commented = 0; next }   # the whole object is documented by its top-level comment
  print top "." key; if (!commented) print "UNCOMMENTED " top "." key
  commented = 0; next
}
{ commented = 0 }
