# nix/lib/toml.nix: a small TOML writer in builtins only, for
# /etc/devbox-quadlet/config.toml.
#
# nixpkgs has pkgs.formats.toml, but it needs nixpkgs and a build step
# (remarshal), and CI here has neither: this file evaluates under a bare
# `nix-instantiate --eval`, so CI can compare its output with the Go parser.
# It covers what the config uses: tables of strings, integers, booleans,
# floats and arrays of those. Output is deterministic: keys come out in
# builtins.attrNames order (sorted by bytes).
let
  inherit (builtins)
    attrNames
    concatMap
    concatStringsSep
    elemAt
    filter
    fromJSON
    genList
    head
    isAttrs
    length
    match
    replaceStrings
    toJSON
    typeOf
    ;

  prefix = "devbox-quadlet toTOML: ";

  # A TOML basic string takes JSON's escapes (\" \\ \b \f \n \r \t \uXXXX),
  # and builtins.toJSON emits only those. The one gap: toJSON leaves DEL
  # (U+007F) raw, which TOML forbids in a basic string, so escape it here.
  # Nix strings cannot hold NUL. Bytes that are not UTF-8 pass through
  # unchanged; the Go parser rejects them when the module validates the file.
  del = fromJSON ''"\u007f"'';
  escapeString = s: replaceStrings [ del ] [ "\\u007f" ] (toJSON s);

  # Bare keys are A-Za-z0-9_-; anything else (a dot, a space, a quote, an
  # empty key) is written as a quoted key, so no key can split a table path.
  formatKey = k: if match "[A-Za-z0-9_-]+" k != null then k else escapeString k;

  dotted = path: concatStringsSep "." (map formatKey path);

  # Nix has two float printers and neither is exact alone: toJSON prints six
  # significant digits ("1.23457e+08"), toString six decimals ("0.000000"
  # for 1e-7). Use whichever reads back as the same double, and refuse a
  # float that neither can write, instead of silently rounding it.
  formatFloat =
    path: f:
    let
      exact = s: match "-?[0-9][0-9.eE+-]*" s != null && fromJSON s == f;
      short = toJSON f;
      long = toString f;
      # TOML needs a fraction or an exponent to read a float as a float.
      pointed = s: if match ".*[.eE].*" s != null then s else s + ".0";
      # "123456789.000000" -> "123456789.0", "2.500000" -> "2.5".
      trimmed =
        let
          m = match "(-?[0-9]+[.][0-9]*[1-9])0*" long;
        in
        if m != null then head m else head (match "(-?[0-9]+)[.]0*" long) + ".0";
    in
    if exact short then
      pointed short
    else if exact long then
      trimmed
    else
      throw "${prefix}${path}: the float ${long} has no exact decimal form here: round it or write it as a string";

  formatValue =
    path: v:
    let
      t = typeOf v;
    in
    if t == "string" then
      escapeString v
    else if t == "int" then
      toString v
    else if t == "bool" then
      (if v then "true" else "false")
    else if t == "float" then
      formatFloat path v
    else if t == "list" then
      let
        item = i: formatValue "${path}[${toString i}]" (elemAt v i);
      in
      "[" + concatStringsSep ", " (genList item (length v)) + "]"
    else
      throw "${prefix}${path}: a ${t} cannot be written as a TOML value: want a string, integer, boolean, float or a list of those";

  # One table: a header, its own key = value lines, then each sub-table.
  # A table that holds only sub-tables gets no header of its own (TOML
  # defines it implicitly); an empty table does, so it still exists.
  # null means "not set" (Go's default applies), so null keys are left out.
  renderTable =
    path: attrs:
    let
      present = filter (n: attrs.${n} != null) (attrNames attrs);
      tables = filter (n: isAttrs attrs.${n}) present;
      leaves = filter (n: !(isAttrs attrs.${n})) present;
      header =
        if path != [ ] && (leaves != [ ] || tables == [ ]) then [ "[${dotted path}]" ] else [ ];
      lines = map (n: "${formatKey n} = ${formatValue (dotted (path ++ [ n ])) attrs.${n}}") leaves;
      block = header ++ lines;
    in
    (if block == [ ] then [ ] else [ (concatStringsSep "\n" block) ])
    ++ concatMap (n: renderTable (path ++ [ n ]) attrs.${n}) tables;

  # toTOML :: attrs -> string. Tables are separated by one blank line, and
  # a non-empty document ends with a newline.
  toTOML =
    attrs:
    if !(isAttrs attrs) then
      throw "${prefix}want an attribute set of tables, got a ${typeOf attrs}"
    else
      let
        blocks = renderTable [ ] attrs;
      in
      if blocks == [ ] then "" else concatStringsSep "\n\n" blocks + "\n";
in
{
  inherit toTOML escapeString formatKey;
}
