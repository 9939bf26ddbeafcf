module racelab/servers/go

go 1.19
