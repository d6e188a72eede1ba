local limits = { cutoff = 24 }

local function check(x)
  return x.hours > limits.cutoff
end
check(nil)
