# Below 1000 are system accounts.
# expect: user "bob": uid 999 is out of range: want 1000 to 59999
{
  bob = {
    uid = 999;
  };
}
