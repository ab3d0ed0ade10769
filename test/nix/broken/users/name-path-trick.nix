# A login name ends up in paths (/home/NAME, op://vault/NAME-...).
# expect: user "../root": invalid login name
# go: invalid
{
  "../root" = {
    uid = 1002;
  };
}
