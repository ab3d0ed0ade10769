# A quoted uid is a string, not a number.
# expect: user "bob": uid: want an integer from 1000 to 59999, got the string "1002"
{
  bob = {
    uid = "1002";
  };
}
