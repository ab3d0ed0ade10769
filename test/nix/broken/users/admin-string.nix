# "false" as a string is true-ish in many languages; here it is refused.
# expect: user "alice": admin: want true or false, got the string "false"
# go: invalid
{
  alice = {
    uid = 1001;
    admin = "false";
  };
}
