this is not Lua and must never be loaded
